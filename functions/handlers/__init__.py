"""Lambda entry points. Each parses its event, calls the domain, shapes the reply."""
