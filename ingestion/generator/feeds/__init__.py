"""One module per feed slug, each writing that feed's files of a generated district and its truth."""
