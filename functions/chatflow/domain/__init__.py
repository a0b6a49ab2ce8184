"""Business rules: accounts, rooms and members, messages. No transport code here."""
