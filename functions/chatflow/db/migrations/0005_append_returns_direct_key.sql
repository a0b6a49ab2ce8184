-- A message in a direct room is also a notification to the other person (docs/protocol.md
-- §4), so the sender's service must know whether the room is direct, and who the other
-- member is, without asking PostgreSQL a second time on every SEND. The room row is read
-- (and locked) here anyway: the function now also returns its direct_key (NULL unless the
-- room is direct; "<low user id>:<high user id>" when it is). Everything else is 0003.
-- The result type changes, which CREATE OR REPLACE cannot do, hence the DROP first; both
-- run in this migration's one transaction, so no caller sees the function missing.
DROP FUNCTION chatflow_append_message(uuid, uuid, text, text, text, uuid, uuid);

CREATE FUNCTION chatflow_append_message(
    p_room uuid, p_sender uuid, p_kind text, p_body text, p_client_msg_id text,
    p_subject uuid, p_id uuid
) RETURNS TABLE (status text, seq bigint, id uuid, created_at timestamptz,
                 edited_at timestamptz, deleted_at timestamptz, body text,
                 sender_username text, sender_display_name text, direct_key text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_username text;
    v_display text;
    v_member boolean := false;
    v_direct_key text;
BEGIN
    IF p_kind = 'message' THEN
        PERFORM 1 FROM room_members rm WHERE rm.room_id = p_room AND rm.user_id = p_sender
        FOR NO KEY UPDATE;
        v_member := FOUND;
    END IF;
    SELECT r.direct_key INTO v_direct_key FROM rooms r WHERE r.id = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no_room'::text, NULL::bigint, NULL::uuid, NULL::timestamptz,
                            NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text,
                            NULL::text, NULL::text;
        RETURN;
    END IF;
    IF p_kind = 'message' THEN
        IF NOT v_member THEN
            RETURN QUERY SELECT 'not_member'::text, NULL::bigint, NULL::uuid, NULL::timestamptz,
                                NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text,
                                NULL::text, v_direct_key;
            RETURN;
        END IF;
        SELECT u.username, u.display_name INTO v_username, v_display
        FROM users u WHERE u.id = p_sender;
        IF p_client_msg_id IS NOT NULL THEN
            RETURN QUERY SELECT 'duplicate'::text, m.seq, m.id, m.created_at, m.edited_at,
                                m.deleted_at, m.body, v_username, v_display, v_direct_key
                         FROM messages m
                         WHERE m.room_id = p_room AND m.sender_id = p_sender
                           AND m.client_msg_id = p_client_msg_id;
            IF FOUND THEN
                RETURN;
            END IF;
        END IF;
    END IF;
    UPDATE rooms r SET last_seq = r.last_seq + 1 WHERE r.id = p_room RETURNING r.last_seq INTO v_seq;
    IF p_kind = 'message' THEN
        UPDATE room_members rm SET last_read_seq = v_seq
        WHERE rm.room_id = p_room AND rm.user_id = p_sender AND rm.last_read_seq < v_seq;
    END IF;
    RETURN QUERY
        INSERT INTO messages AS m (room_id, seq, id, sender_id, kind, body, client_msg_id, subject_id)
        VALUES (p_room, v_seq, p_id, p_sender, p_kind, p_body, p_client_msg_id, p_subject)
        RETURNING 'stored'::text, m.seq, m.id, m.created_at, m.edited_at, m.deleted_at, m.body,
                  v_username, v_display, v_direct_key;
END;
$$;
