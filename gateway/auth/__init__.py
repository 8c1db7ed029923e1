"""Partner authentication: OAuth2 client credentials, RFC 9421 signatures, gateway keys."""
