# Spanish (es), informal "tú". Same message ids as en.ftl, the reference catalogue;
# a message missing here falls back to English.
#
# Variables: $merchant (MERCHANT_NAME), $label (a field's label), $max, $min, $seconds,
# $input (an input's name, such as first_name or city).

language-name = Español
language-switcher = Idioma

## The signup form

form-title = Regístrate
form-intro = Únete a nuestra lista de clientes. Te llevará menos de un minuto.
form-intro-merchant = Únete a la lista de clientes de { $merchant }. Te llevará menos de un minuto.
page-title-error = Error: { $title }
submit = Registrarme
sending = Enviando…
optional = (opcional)
error-prefix = Error:
error-summary-title = Hay un problema
privacy-link = Cómo usamos tus datos
consent-default = Sí, quiero recibir novedades y ofertas por correo electrónico. Puedo darme de baja en cualquier momento.
honeypot-label = Deja este campo vacío
fields-required-hint = Todos los campos son obligatorios, salvo los marcados como opcionales.

label-first_name = Nombre
label-last_name = Apellidos
label-email = Correo electrónico
label-phone = Número de teléfono
label-birthday = Cumpleaños
label-birthday_day = Día
label-birthday_month = Mes
label-birthday_year = Año
label-address = Dirección
label-address1 = Dirección (línea 1)
label-address2 = Dirección (línea 2)
label-city = Ciudad o localidad
label-state = Estado, provincia o región
label-zip = Código postal
label-country = Código de país
label-note = Algo que quieras contarnos
label-marketing_consent = Consentimiento para comunicaciones comerciales

hint-email = Nunca lo compartiremos.
hint-phone = Puedes usar números, espacios y guiones. Si estás en el extranjero, incluye el prefijo de tu país.
hint-birthday = Por ejemplo, 27 3 para el 27 de marzo. El año es opcional.
hint-country = Dos letras, como ES, MX, AR, CO o US.
hint-note = Como máximo { $max } caracteres.

## Validation messages: the server and the script in the page both use these

error-required = { $input ->
    [first_name] Escribe tu nombre.
    [last_name] Escribe tus apellidos.
    [email] Escribe tu correo electrónico.
    [phone] Escribe tu número de teléfono.
    [birthday] Escribe el día y el mes de tu cumpleaños.
    [address1] Escribe la primera línea de tu dirección.
    [city] Escribe tu ciudad o localidad.
    [state] Escribe tu estado, provincia o región.
    [zip] Escribe tu código postal.
    [country] Escribe el código de tu país.
    [note] Escribe una nota.
   *[other] Completa este campo.
}
error-too-long = { $label }: escribe como máximo { $max } caracteres.
error-control-characters = { $label }: hay caracteres que no se pueden guardar.
error-invisible-characters = { $label }: hay caracteres invisibles, como un espacio de ancho cero o una marca de dirección. Vuelve a escribir este campo sin ellos.
error-email = Escribe un correo electrónico como nombre@example.com.
error-phone = Escribe un número de teléfono solo con números, espacios, guiones o paréntesis. Puede llevar un + al principio.
error-phone-digits = Un número de teléfono tiene entre { $min } y { $max } dígitos.
error-consent = Marca la casilla o déjala sin marcar.
error-sms-needs-phone = Para recibir mensajes de texto, escribe tu número de teléfono o deja la casilla sin marcar.
sms-consent-default = Sí, quiero recibir ofertas por mensaje de texto. La frecuencia de los mensajes varía. Pueden aplicarse tarifas de mensajes y datos. Responde STOP para dejar de recibirlos y HELP para obtener ayuda.
sms-consent-default-merchant = Sí, { $merchant } puede enviarme ofertas por mensaje de texto. La frecuencia de los mensajes varía. Pueden aplicarse tarifas de mensajes y datos. Responde STOP para dejar de recibirlos y HELP para obtener ayuda.
label-sms_consent = Consentimiento para mensajes de texto
error-birthday-numbers = Escribe tu cumpleaños con números, por ejemplo 27 3 1990.
error-birthday-date = Escribe una fecha que exista: un día del 1 al 31 que tenga ese mes y un mes del 1 al 12.
error-birthday-year = Escribe un año entre { $min } y { $max }, o deja el año vacío.
error-country = Escribe un código de país de dos letras, como ES o MX.

## Messages above the form

notice-expired = El formulario estuvo abierto mucho tiempo. Revisa tus datos y vuelve a enviarlo.
notice-form-used = Este formulario ya se envió, y cada formulario inscribe a una sola persona. Para inscribir a otra persona, revisa los datos de abajo y envía este formulario nuevo.
notice-rate-limited = Recibimos varios registros desde tu conexión en poco tiempo. Espera { $seconds } segundos y vuelve a enviar el formulario; tus datos siguen aquí.
notice-captcha-failed = Completa la verificación que está encima del botón y vuelve a enviar el formulario.
notice-captcha-unavailable = No pudimos hacer la verificación de seguridad en este momento. Tus datos todavía no se enviaron y siguen aquí: vuelve a intentarlo en un momento.
notice-not-saved = Tu registro no se guardó: hubo un problema por nuestra parte. Tus datos siguen aquí: vuelve a enviar el formulario en un momento.
notice-network = No pudimos conectar con el servidor. Tus datos siguen aquí: revisa tu conexión y vuelve a intentarlo.

## After the form

thanks-title = ¡Gracias!
thanks-title-merchant = ¡Gracias de parte de { $merchant }!
thanks-lead = Ya estás en la lista. Recibimos tus datos.
thanks-back = Volver al formulario

## Consent: the unsubscribe page.

unsubscribe-title = Tu consentimiento
unsubscribe-channel-email = novedades y ofertas por correo electrónico
unsubscribe-channel-sms = mensajes de texto
unsubscribe-agreed = El { $date } aceptaste esto:
unsubscribe-question = ¿Quieres dejar de recibir { $what }?
unsubscribe-button = Darme de baja
unsubscribe-done-title = Te has dado de baja
unsubscribe-done = No recibirás más { $what } de nuestra parte. Los mensajes que ya estén en camino pueden llegar en los próximos minutos.
unsubscribe-already = Te diste de baja el { $date }: no recibes { $what } de nuestra parte.
unsubscribe-nothing = No guardamos ningún consentimiento tuyo para enviarte { $what }. Aun así, puedes pedirnos que nunca te escribamos.
unsubscribe-invalid-title = Este enlace no funciona
unsubscribe-invalid = Es posible que el enlace se haya cortado o modificado por el camino. Ábrelo de nuevo desde el correo, o responde al correo y pide que te demos de baja.

## Emails to visitors.

mail-confirm-subject = Confirma tu dirección de correo electrónico
mail-confirm-subject-merchant = Confirma tu dirección de correo electrónico para { $merchant }
mail-confirm-lead = Alguien, esperamos que tú, se registró con esta dirección de correo electrónico. Confirma que es tuya.
mail-confirm-button = Confirmar mi dirección
mail-confirm-ignore = Si no fuiste tú, ignora este correo: no volverás a saber de nosotros, y la dirección se olvida en { $days } días.
mail-welcome-subject = ¡Bienvenido!
mail-welcome-subject-merchant = ¡Bienvenido a { $merchant }!
mail-welcome-text = Gracias por registrarte. Nos alegra tenerte con nosotros.
mail-footer-why = Recibes este correo porque esta dirección se introdujo en nuestro formulario de registro.
mail-footer-why-merchant = Recibes este correo porque esta dirección se introdujo en el formulario de registro de { $merchant }.
mail-footer-unsubscribe = Darte de baja, o ver lo que aceptaste

## The confirmation page (double opt-in)

confirm-title = Confirma tu dirección de correo electrónico
confirm-lead = Pulsa el botón para confirmar que esta dirección es tuya.
confirm-button = Confirmar
confirm-whose = Esto confirma el registro enviado con esta dirección a nombre de { $name }.
confirm-whose-phone = Número de teléfono que termina en { $digits }.
confirm-not-yours = ¿No eres tú, o no son tus datos? No pulses el botón: sin él no se guarda nada, y el registro se borra en unos días.
confirm-done-title = Gracias: tu dirección está confirmada
confirm-done = Tu registro está completo.
confirm-expired-title = Este enlace ha caducado
confirm-expired = Los enlaces de confirmación funcionan durante { $days } días. Regístrate de nuevo para recibir uno nuevo.
confirm-withdrawn = Te diste de baja después de que se enviara este enlace, así que no se cambió nada.
thanks-check-email = Te hemos enviado un correo: abre el enlace que contiene para confirmar tu dirección.
thanks-check-email-if-consented = Si aceptaste recibir noticias nuestras, te hemos enviado un correo: abre el enlace que contiene para confirmar tu dirección.

## Error pages

error-unavailable-title = Todavía no está hecho
error-unavailable-message = Algo falló de nuestro lado y no se cambió nada. Vuelve a intentarlo en un momento.

error-malformed-title = No se pudo leer el formulario
error-malformed-message = Vuelve al formulario y envíalo de nuevo.
error-reference = Referencia:
error-back = Volver al formulario
error-forbidden-title = Este formulario solo se puede enviar desde su propia página
error-forbidden-message = Por tu seguridad, solo aceptamos registros enviados desde el propio formulario. Abre el formulario y envíalo desde allí.
not-found-title = Página no encontrada
not-found-message = No hay ninguna página en esta dirección. Puede que se haya movido o que el enlace tenga un error.
not-found-link = Ir al formulario de registro
server-error-title = Algo salió mal
server-error-message = Hubo un problema por nuestra parte. Vuelve a intentarlo en un momento.

## The counter: the printed poster and the tablet

poster-invitation = Únase a nuestra lista
poster-scan = Escanee el código con la cámara de su teléfono para registrarse.
poster-type = O escriba esta dirección:
poster-consent-heading = Si marca la casilla del formulario, acepta lo siguiente:
kiosk-thanks-title = ¡Gracias, ya está registrado!
kiosk-thanks-lead = Pase la tableta al siguiente cliente. En un momento aparecerá un formulario nuevo.
kiosk-next = Empezar un nuevo registro
kiosk-unpaired-title = Esta tableta fue desvinculada
kiosk-unpaired-message = Ya no acepta registros. Pregunte a un miembro del personal.
kiosk-not-paired-title = Esta tableta no está configurada para registros
kiosk-not-paired-message = Pregunte a un miembro del personal.
