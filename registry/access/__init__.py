"""Identity and access: who is calling (auth, tokens), what they may do (policy), which
namespaces they own (namespaces), where they call from (clients) and how often they may
try (ratelimit). The registry's views and the gallery's pages both decide through here."""
