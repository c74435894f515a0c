"""The harness: claims as experiments (plugin, design, execute), records, statistics (trend, verdict) and the report; agents in harness/agents/. See ARCHITECTURE.md."""
