/**
 * Who may do what in a room, as the server decides it (docs/architecture.md, "Who may do what"): the page shows only the
 * controls that can succeed, and the server still refuses everything else.
 */

import type { Member, Role, Room } from './types';

/** Owners and admins rename a room and change its topic; direct rooms have neither. */
export function canEditRoom(room: Pick<Room, 'role' | 'visibility'>): boolean {
  return room.visibility !== 'direct' && (room.role === 'owner' || room.role === 'admin');
}

/** Only the owner deletes a room. */
export function canDeleteRoom(room: Pick<Room, 'role' | 'visibility'>): boolean {
  return room.visibility !== 'direct' && room.role === 'owner';
}

/** Owners and admins add people; nobody adds anyone to a direct room. */
export function canAddMembers(myRole: Role | null, direct: boolean): boolean {
  return !direct && (myRole === 'owner' || myRole === 'admin');
}

/** The owner removes anyone else; an admin removes plain members only. */
export function canRemoveMember(myRole: Role | null, myId: string, member: Member, direct: boolean): boolean {
  if (direct || member.user.id === myId || member.role === 'owner') return false;
  return myRole === 'owner' || (myRole === 'admin' && member.role === 'member');
}

/** The role the owner can switch this member to (admin ⇄ member), or null for no control. */
export function roleSwitch(myRole: Role | null, myId: string, member: Member, direct: boolean): 'admin' | 'member' | null {
  if (direct || myRole !== 'owner' || member.user.id === myId || member.role === 'owner') return null;
  return member.role === 'admin' ? 'member' : 'admin';
}

/** A role in words for a sentence: "an admin", "a member", "the owner". */
export function roleWords(role: Role): string {
  return role === 'admin' ? 'an admin' : role === 'owner' ? 'the owner' : 'a member';
}
