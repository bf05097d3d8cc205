"""The command layer: click commands, what the terminal shows, runs and replays."""
