"""Partner onboarding: applications under maker-checker, partners, credentials and keys (DESIGN §5)."""
