"""motcua-bot: a chatbot for a Vietnamese commune's one-stop shop (bộ phận một cửa).

The package is layered as ``channels -> dialogue engine -> (catalogue matcher | dossier store)``.
Everything outside :mod:`bot.channels` is messenger-agnostic.
"""

__version__ = "0.1.0"
