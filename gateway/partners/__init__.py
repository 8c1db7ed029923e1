"""Partner onboarding: maker-checker applications, partners, credentials and keys (DESIGN §5)."""
