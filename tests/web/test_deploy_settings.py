import os

from cryptography.fernet import Fernet

from tests.reliability_helpers import manage


def production_env(**extra):
    # Test runs may set this for Playwright's event loop; production never does.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "studio.production",
        "CACHE_URL": "redis://127.0.0.1:6379/1",
        **extra,
    }


def test_production_settings_pass_check_deploy():
    env = production_env(
        DJANGO_SECRET_KEY=Fernet.generate_key().decode() * 2,
        STUDIO_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="studio.example.com",
        TRUSTED_PROXIES="127.0.0.1",
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_warns_when_no_proxy_is_trusted():
    """Behind the TLS proxy, without it named, everyone shares one address for the sign-in
    limits: 20 failures by anyone would lock the sign-in for all (issue 17)."""
    env = production_env(
        DJANGO_SECRET_KEY=Fernet.generate_key().decode() * 2,
        STUDIO_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="studio.example.com",
    )
    env.pop("TRUSTED_PROXIES", None)
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0 and "studio.W001" in result.stdout + result.stderr


def test_production_refuses_the_public_development_key():
    env = production_env(DJANGO_SECRET_KEY="x" * 60)
    env.pop("STUDIO_ENCRYPTION_KEYS", None)
    result = manage("check", env=env)
    assert result.returncode != 0 and "STUDIO_ENCRYPTION_KEYS" in result.stderr


def test_a_rate_limit_out_of_range_is_refused_at_start():
    env = {**os.environ, "QUEUE_PER_MINUTE": "100000"}
    result = manage("check", env=env)
    assert result.returncode != 0 and "QUEUE_PER_MINUTE: from 1 to 10000" in result.stderr


def test_venice_api_base_must_be_venice_or_loopback():
    env = {**os.environ, "VENICE_API_BASE": "https://venice.example.com/api/v1"}
    result = manage("check", env=env)
    assert result.returncode != 0 and "VENICE_API_BASE" in result.stderr
    assert "studio.E101" in result.stderr


def test_the_real_venice_needs_chain_rpc_url_set():
    env = {**os.environ, "VENICE_API_BASE": "https://api.venice.ai/api/v1"}
    env.pop("CHAIN_RPC_URL", None)
    result = manage("check", env=env)
    assert result.returncode != 0 and "CHAIN_RPC_URL is not set" in result.stderr

    env["CHAIN_RPC_URL"] = "https://mainnet.base.org"
    result = manage("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_sandbox_keeps_its_chain_default():
    env = {**os.environ, "VENICE_API_BASE": "http://127.0.0.1:8402/api/v1"}
    env.pop("CHAIN_RPC_URL", None)
    result = manage("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
