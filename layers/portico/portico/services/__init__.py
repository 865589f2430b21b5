"""Business rules. Services take a principal and a repository; they know nothing of HTTP."""
