"""Partner authentication: OAuth2 client credentials, RFC 9421 signatures, the gateway's own keys."""
