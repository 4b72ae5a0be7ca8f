// Browser-side strings, Spanish and English; the page's <html lang> picks one.
const TEXT = {
  es: { connecting: "Conectando…", live: "En vivo", reconnecting: "Reconectando…", syncing: "Sincronizando…", polling: "Conexión de respaldo",
        stopped: "Desconectado", stopped_hint: "Recarga la página para volver a conectar." },
  en: { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", syncing: "Syncing…", polling: "Backup connection",
        stopped: "Disconnected", stopped_hint: "Reload the page to connect again." },
};

export const lang = TEXT[document.documentElement.lang] ? document.documentElement.lang : "es";

export function t(key) {
  return TEXT[lang][key] ?? TEXT.es[key] ?? key;
}
