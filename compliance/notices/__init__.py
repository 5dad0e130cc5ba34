"""Recipients directory, notices sent, their answers and follow-up."""
