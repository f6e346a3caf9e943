"""HTTP routes of auth-service (thin: parse, call the service layer, shape the response)."""
