"""The user config file (`~/.config/jobdeck/config.toml`, or `$JOBDECK_CONFIG`): server-wide limits and host limits."""
