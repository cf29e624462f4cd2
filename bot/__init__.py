"""Every way a person reaches citebot: the command line, the terminal chat, Telegram."""
