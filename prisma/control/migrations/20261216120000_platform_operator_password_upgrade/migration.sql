-- Password hashes at current parameters (issue 15, item 7): a platform operator's sign-in replaces a
-- hash of an older format or weaker parameters with one at the current parameters (identity's
-- PlatformOperators.login, only over the hash it just verified). Services still add and disable no
-- operator: that stays with the owner role (`npm run ops:operator`).
grant update (password_hash) on platform_operators to hotdash_app;
