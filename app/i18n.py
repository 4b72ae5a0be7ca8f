"""User-facing text in Spanish (the default) and English. Error codes map to messages here."""

from __future__ import annotations

from aiohttp import web

LANGS = ("es", "en")
DEFAULT_LANG = "es"  # most of our users speak Spanish
LANG_COOKIE = "lang"

TEXT: dict[str, dict[str, str]] = {
    "app.name": {"es": "Condorito", "en": "Condorito"},
    "login.title": {"es": "Iniciar sesión", "en": "Sign in"},
    "login.email": {"es": "Correo electrónico", "en": "E-mail"},
    "login.password": {"es": "Contraseña", "en": "Password"},
    "login.submit": {"es": "Entrar", "en": "Sign in"},
    "login.invalid_credentials": {"es": "Correo o contraseña incorrectos.",
                                  "en": "Wrong e-mail or password."},
    "login.rate_limited": {"es": "Demasiados intentos. Espera {seconds} s y vuelve a intentar.",
                           "en": "Too many attempts. Wait {seconds} s and try again."},
    "logout": {"es": "Cerrar sesión", "en": "Sign out"},
    "nav.dashboard": {"es": "Panel", "en": "Dashboard"},
    "nav.chat": {"es": "Conversaciones", "en": "Conversations"},
    "nav.settings": {"es": "Ajustes", "en": "Settings"},
    "dash.conversations_open": {"es": "Conversaciones abiertas", "en": "Open conversations"},
    "dash.unread": {"es": "Sin leer", "en": "Unread"},
    "dash.messages_today_in": {"es": "Recibidos hoy", "en": "Received today"},
    "dash.messages_today_out": {"es": "Enviados hoy", "en": "Sent today"},
    "dash.contacts": {"es": "Contactos", "en": "Contacts"},
    "dash.bulk_active": {"es": "Envíos masivos activos", "en": "Active bulk sends"},
    "rt.connecting": {"es": "Conectando…", "en": "Connecting…"},
    "rt.live": {"es": "En vivo", "en": "Live"},
    "rt.reconnecting": {"es": "Reconectando…", "en": "Reconnecting…"},
    "rt.syncing": {"es": "Sincronizando…", "en": "Syncing…"},
    "pair.title": {"es": "Vincular WhatsApp", "en": "Link WhatsApp"},
    "pair.question": {"es": "¿Vincular este teléfono con «{tenant}»?",
                      "en": "Link this phone to “{tenant}”?"},
    "pair.phone": {"es": "Número de teléfono (simulado)", "en": "Phone number (simulated)"},
    "pair.confirm": {"es": "Vincular", "en": "Link"},
    "pair.done": {"es": "Listo: el número quedó vinculado. Ya puedes cerrar esta página.",
                  "en": "Done: the number is linked. You can close this page."},
    "pair.expired": {"es": "Este código ya venció. Escanea el código que se muestra ahora.",
                     "en": "This code has expired. Scan the code shown now."},
    "pair.sandbox_note": {"es": "Modo de prueba: nada sale de este servidor.",
                          "en": "Sandbox mode: nothing leaves this server."},
    "error.title": {"es": "Algo salió mal", "en": "Something went wrong"},
    "error.not_found": {"es": "No encontramos lo que buscas.", "en": "We could not find that."},
    "error.forbidden": {"es": "No tienes permiso para ver esto.",
                        "en": "You are not allowed to see this."},
    "error.internal": {"es": "Error interno. Inténtalo de nuevo en un momento.",
                       "en": "Internal error. Try again in a moment."},
    "error.generic": {"es": "La solicitud no se pudo completar.",
                      "en": "The request could not be completed."},
    "error.back": {"es": "Volver al inicio", "en": "Back to start"},
}


def t(key: str, lang: str = DEFAULT_LANG, **values: object) -> str:
    """Translate a key (falls back to Spanish, then to the key itself)."""
    entry = TEXT.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**values) if values else text


def pick_lang(request: web.Request) -> str:
    """The language for a request: ?lang=, then the cookie, then Accept-Language."""
    for candidate in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGS:
            return candidate
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return DEFAULT_LANG
