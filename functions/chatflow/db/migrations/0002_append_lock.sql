-- Concurrent joins of one room deadlocked: inserting the membership takes a KEY SHARE lock
-- on the room row (the foreign key), and chatflow_append_message then asked for FOR UPDATE
-- on the same row, which conflicts with the other joiner's KEY SHARE. FOR NO KEY UPDATE is
-- what the following UPDATE of rooms.last_seq takes anyway; it still serializes appenders
-- of one room (it conflicts with itself) but not with foreign-key checks.
CREATE OR REPLACE FUNCTION chatflow_append_message(
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
    PERFORM 1 FROM rooms r WHERE r.id = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no_room'::text, NULL::bigint, NULL::uuid, NULL::timestamptz,
                            NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text,
                            NULL::text;
        RETURN;
    END IF;
    IF p_kind = 'message' THEN
        PERFORM 1 FROM room_members rm WHERE rm.room_id = p_room AND rm.user_id = p_sender;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_member'::text, NULL::bigint, NULL::uuid, NULL::timestamptz,
                                NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text,
                                NULL::text;
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
