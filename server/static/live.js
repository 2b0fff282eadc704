// Live view tiles (issue 6).
