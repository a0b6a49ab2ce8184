/** Wire shapes of the REST API (README.md, "Using the APIs"; the OpenAPI document at /api/openapi.json) and the STOMP MESSAGE bodies (docs/protocol.md §4). */

export interface User {
  id: string;
  username: string;
  displayName: string;
}

export type Role = 'owner' | 'admin' | 'member';
export type Visibility = 'public' | 'private' | 'direct';

export interface Room {
  id: string;
  name: string;
  topic: string;
  visibility: Visibility;
  role: Role | null;
  lastSeq: number;
  unread: number;
  createdAt: string;
}

export interface Member {
  user: User;
  role: Role;
  joinedAt: string;
}

export type StoredKind = 'message' | 'member_joined' | 'member_left' | 'role_changed';

export interface Message {
  seq: number;
  id: string;
  roomId: string;
  type: StoredKind;
  sender: User | null;
  subject?: User | null;
  body: string;
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  /** The sender's `clientMsgId` of a message (null for system events and REST posts without one). */
  clientMsgId?: string | null;
}

export interface Page {
  items: Message[];
  nextBefore: number | null;
  nextAfter: number | null;
}

/** One page of `GET /api/rooms`; `nextAfter` is the `after` of the next page, null at the end. */
export interface RoomPage {
  items: Room[];
  nextAfter: string | null;
}

export interface Session {
  user: User;
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/** A partial user: an `offline` event after a removal carries only the id. */
export type UserRef = Pick<User, 'id'> & Partial<User>;

export type RoomEvent =
  | Message
  | (Omit<Message, 'type'> & { type: 'message_updated' })
  | { type: 'presence'; status: 'online' | 'offline'; roomId: string; user: UserRef }
  | { type: 'typing'; roomId: string; user: User }
  | { type: 'replay'; roomId: string; complete: boolean; lastSeq: number }
  | { type: 'room_updated'; roomId: string; name: string; topic: string; by: User };

/** Notices on `/user/queue/notifications` (docs/protocol.md §4), on every connection of the person. */
export type Notification =
  | { type: 'removed_from_room'; roomId: string }
  | { type: 'room_deleted'; roomId: string }
  | { type: 'added_to_room'; roomId: string; by: User }
  | { type: 'direct_message'; roomId: string; seq: number; sender: User; excerpt: string }
  | { type: 'role_changed'; roomId: string; role: Role };

export interface QueueError {
  type: 'error';
  code: string;
  message: string;
  destination?: string;
  receiptId?: string | null;
  retryAfter?: number;
}
