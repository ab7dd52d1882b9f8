"""Stream processors: raw Cloudflare topics -> deduplicated, normalized SIEM topics."""
