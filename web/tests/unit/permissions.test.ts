import { describe, expect, it } from 'vitest';
import { canAddMembers, canDeleteRoom, canEditRoom, canRemoveMember, roleSwitch, roleWords } from '../../src/permissions';
import type { Member, Role } from '../../src/types';

const ME = 'me';
function member(id: string, role: Role): Member {
  return { user: { id, username: id, displayName: id }, role, joinedAt: '2024-01-01T00:00:00Z' };
}

describe('room settings', () => {
  it('owners and admins edit; only the owner deletes; nobody edits a direct room', () => {
    expect(canEditRoom({ role: 'owner', visibility: 'public' })).toBe(true);
    expect(canEditRoom({ role: 'admin', visibility: 'private' })).toBe(true);
    expect(canEditRoom({ role: 'member', visibility: 'public' })).toBe(false);
    expect(canEditRoom({ role: null, visibility: 'public' })).toBe(false);
    expect(canEditRoom({ role: 'owner', visibility: 'direct' })).toBe(false);
    expect(canDeleteRoom({ role: 'owner', visibility: 'public' })).toBe(true);
    expect(canDeleteRoom({ role: 'admin', visibility: 'public' })).toBe(false);
    expect(canDeleteRoom({ role: 'owner', visibility: 'direct' })).toBe(false);
  });
});

describe('members', () => {
  it('owners and admins add people, except to a direct room', () => {
    expect(canAddMembers('owner', false)).toBe(true);
    expect(canAddMembers('admin', false)).toBe(true);
    expect(canAddMembers('member', false)).toBe(false);
    expect(canAddMembers('owner', true)).toBe(false);
  });

  it('the owner removes anyone else; an admin only plain members', () => {
    expect(canRemoveMember('owner', ME, member('a', 'admin'), false)).toBe(true);
    expect(canRemoveMember('owner', ME, member('m', 'member'), false)).toBe(true);
    expect(canRemoveMember('owner', ME, member(ME, 'owner'), false)).toBe(false);
    expect(canRemoveMember('admin', ME, member('m', 'member'), false)).toBe(true);
    expect(canRemoveMember('admin', ME, member('a', 'admin'), false)).toBe(false);
    expect(canRemoveMember('admin', ME, member('o', 'owner'), false)).toBe(false);
    expect(canRemoveMember('member', ME, member('m', 'member'), false)).toBe(false);
    expect(canRemoveMember('owner', ME, member('m', 'member'), true)).toBe(false);
  });

  it('only the owner switches others between admin and member', () => {
    expect(roleSwitch('owner', ME, member('m', 'member'), false)).toBe('admin');
    expect(roleSwitch('owner', ME, member('a', 'admin'), false)).toBe('member');
    expect(roleSwitch('owner', ME, member(ME, 'owner'), false)).toBeNull();
    expect(roleSwitch('admin', ME, member('m', 'member'), false)).toBeNull();
    expect(roleSwitch('owner', ME, member('m', 'member'), true)).toBeNull();
  });

  it('names roles for sentences', () => {
    expect(['owner', 'admin', 'member'].map((r) => roleWords(r as Role))).toEqual(['the owner', 'an admin', 'a member']);
  });
});
