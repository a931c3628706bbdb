"""The automations web page for practice staff, served by the rules-api (no build step, no CDN)."""
