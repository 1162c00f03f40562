"""`silo smoke`: the end-to-end smoke test of each tenant's endpoint (`cli`), its checks
(`checks`) and the files it uploads (`samples`)."""
