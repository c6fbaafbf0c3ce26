"""What faces the internet before a request reaches the receiver or the API: limits on
connections and headers, allowed sources, trusted hosts."""
