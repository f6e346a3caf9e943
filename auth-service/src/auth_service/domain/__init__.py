"""Pure auth rules: no I/O, no framework, only values in and decisions out."""
