"""The real Django OAuth Toolkit, set up as the SquadVoice seed (002)
documents it, for the differential test of the django-oauth-toolkit example.

Usage: python3 dot_peer.py DIR
Creates a SQLite database in DIR, the seed's user and client, and serves
DOT's URLs under /oauth/ on 127.0.0.1 and a free port, printing
"READY <port>" once it listens. Test use only: the credentials are the
seed's demo ones.
"""
import os
import sys

import django
from django.conf import settings
from django.urls import include, path

settings.configure(
    DEBUG=False,
    SECRET_KEY="differential-test-only",
    ALLOWED_HOSTS=["127.0.0.1"],
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "oauth2_provider",
    ],
    MIDDLEWARE=[],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(sys.argv[1], "dot.sqlite3")}},
    ROOT_URLCONF=__name__,
    USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    OAUTH2_PROVIDER={
        # The seed: expires_in 36000, scope "read write", a new refresh
        # token on every refresh.
        "ACCESS_TOKEN_EXPIRE_SECONDS": 36000,
        "SCOPES": {"read": "Read scope", "write": "Write scope"},
        "DEFAULT_SCOPES": ["read", "write"],
        "ROTATE_REFRESH_TOKEN": True,
    },
)

# ROOT_URLCONF is this module; its URLs can be built only after setup.
urlpatterns = []


def main():
    django.setup()
    urlpatterns.append(path("oauth/", include("oauth2_provider.urls", namespace="oauth2_provider")))
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from django.contrib.auth.models import User
    from oauth2_provider.models import Application

    User.objects.create_user("test_api_user", password="test_api_user")
    Application.objects.create(
        name="seed",
        client_id="test_client_id",
        client_secret="test_client_secret",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_PASSWORD,
    )

    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    httpd = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=QuietHandler)
    print("READY", httpd.server_port, flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
