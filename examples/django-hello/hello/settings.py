import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# Set SECRET_KEY as an app setting in production: `slipway config set APP SECRET_KEY=...`
SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-example-key")
DEBUG = os.environ.get("DEBUG", "") == "1"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "hello.urls"
WSGI_APPLICATION = "hello.wsgi.application"
INSTALLED_APPS = ["django.contrib.staticfiles"]
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
