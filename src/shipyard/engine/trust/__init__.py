"""Trust: who may do what (access), approvals before production, and the secrets vault."""
