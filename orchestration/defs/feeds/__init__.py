"""Per-feed raw and normalised assets, their GX checks and the landing sensor."""
