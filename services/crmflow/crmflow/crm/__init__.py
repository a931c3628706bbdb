"""The reference CRM: entity writes with their outbox events, in one transaction each."""
