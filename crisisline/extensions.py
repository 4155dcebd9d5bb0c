"""Flask extensions, created once and bound to an app in ``create_app``."""
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_smorest import Api
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect

socketio = SocketIO()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
babel = Babel()
api = Api()
