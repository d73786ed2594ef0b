"""The IM REST simulator's own tests: its checklist behaviours, with hand-built requests."""
