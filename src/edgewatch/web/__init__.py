"""The web dashboard and its JSON API (FastAPI), over the live pipeline and the box's stores."""
