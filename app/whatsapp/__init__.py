"""WhatsApp providers: one module each, all speaking the normalised types of base.py."""
