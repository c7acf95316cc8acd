"""Trade agreements, credit rules and FEOC rules as versioned data."""
