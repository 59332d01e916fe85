from wallets.throttle import RateLimiter


def test_the_window_admits_its_quota_then_says_how_long_to_wait():
    limiter = RateLimiter(3, window_s=0.5)
    assert [limiter.wait_time(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.wait_time(1)
    assert 0 < wait <= 0.5
    assert limiter.wait_time(2) == 0.0, "each wallet has its own window"


def test_calls_leave_the_window_as_it_slides():
    import time

    limiter = RateLimiter(1, window_s=0.05)
    assert limiter.wait_time(1) == 0.0
    time.sleep(0.06)
    assert limiter.wait_time(1) == 0.0
