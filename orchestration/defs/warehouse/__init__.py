"""The dbt warehouse, its publishing step and the sensor that keeps it current."""
