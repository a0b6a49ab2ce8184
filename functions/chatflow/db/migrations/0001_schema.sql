-- Users, rooms, memberships and messages (docs/architecture.md, "Data model").
-- Per-room order comes from rooms.last_seq, taken under the room row's lock in the
-- same transaction that stores the message, so seq is gap-free and strictly ordered.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text        NOT NULL,
    display_name  text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_ci ON users (lower(username));

CREATE TABLE rooms (
    id         uuid PRIMARY KEY,
    name       text        NOT NULL,
    topic      text        NOT NULL DEFAULT '',
    visibility text        NOT NULL CHECK (visibility IN ('public', 'private', 'direct')),
    created_by uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seq   bigint      NOT NULL DEFAULT 0,
    -- For direct rooms: "<smaller user id>:<larger user id>", so a pair has one room.
    direct_key text        UNIQUE,
    CHECK ((visibility = 'direct') = (direct_key IS NOT NULL))
);
CREATE INDEX rooms_public_name ON rooms (lower(name) text_pattern_ops) WHERE visibility = 'public';

CREATE TABLE room_members (
    room_id       uuid        NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text        NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at     timestamptz NOT NULL DEFAULT now(),
    last_read_seq bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_by_user ON room_members (user_id, room_id);

CREATE TABLE messages (
    room_id       uuid        NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq           bigint      NOT NULL,
    id            uuid        NOT NULL,
    sender_id     uuid        REFERENCES users (id) ON DELETE SET NULL,
    kind          text        NOT NULL
                  CHECK (kind IN ('message', 'member_joined', 'member_left', 'role_changed')),
    body          text        NOT NULL,
    client_msg_id text,
    -- The member a system message is about (who joined, left, was removed or re-roled).
    subject_id    uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    edited_at     timestamptz,
    deleted_at    timestamptz,
    PRIMARY KEY (room_id, seq),
    UNIQUE (room_id, sender_id, client_msg_id)
);

-- Appends one message to a room in one round trip: locks the room row (the per-room
-- sequence), checks membership for user messages, answers an idempotent retry with the
-- first copy, and otherwise takes the next seq and inserts.
-- status: 'stored' | 'duplicate' | 'not_member' | 'no_room'
CREATE FUNCTION chatflow_append_message(
    p_room uuid, p_sender uuid, p_kind text, p_body text, p_client_msg_id text,
    p_subject uuid, p_id uuid
) RETURNS TABLE (status text, seq bigint, id uuid, created_at timestamptz,
                 edited_at timestamptz, deleted_at timestamptz, body text,
                 sender_username text, sender_display_name text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_username text;
    v_display text;
BEGIN
    PERFORM 1 FROM rooms r WHERE r.id = p_room FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no_room'::text, NULL::bigint, NULL::uuid, NULL::timestamptz,
                            NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    IF p_kind = 'message' THEN
        PERFORM 1 FROM room_members rm WHERE rm.room_id = p_room AND rm.user_id = p_sender;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_member'::text, NULL::bigint, NULL::uuid, NULL::timestamptz,
                                NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, NULL::text;
            RETURN;
        END IF;
        SELECT u.username, u.display_name INTO v_username, v_display
        FROM users u WHERE u.id = p_sender;
        IF p_client_msg_id IS NOT NULL THEN
            RETURN QUERY SELECT 'duplicate'::text, m.seq, m.id, m.created_at, m.edited_at,
                                m.deleted_at, m.body, v_username, v_display
                         FROM messages m
                         WHERE m.room_id = p_room AND m.sender_id = p_sender
                           AND m.client_msg_id = p_client_msg_id;
            IF FOUND THEN
                RETURN;
            END IF;
        END IF;
    END IF;
    UPDATE rooms r SET last_seq = r.last_seq + 1 WHERE r.id = p_room RETURNING r.last_seq INTO v_seq;
    RETURN QUERY
        INSERT INTO messages AS m (room_id, seq, id, sender_id, kind, body, client_msg_id, subject_id)
        VALUES (p_room, v_seq, p_id, p_sender, p_kind, p_body, p_client_msg_id, p_subject)
        RETURNING 'stored'::text, m.seq, m.id, m.created_at, m.edited_at, m.deleted_at, m.body,
                  v_username, v_display;
END;
$$;
