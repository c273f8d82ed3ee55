"""Room operations over the Driver interface. No SDK is imported here."""
