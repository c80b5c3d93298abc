"""The procedure side: the catalogue, how questions are normalised and matched, and the
wording of answers about procedures."""
