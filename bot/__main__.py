"""``python -m bot`` runs the citebot command line."""

from bot.cli import main

main()
