from django.urls import path

from referloop.notifications import views

# Under campaigns/<campaign_id>/emails/ (referloop/urls.py); the Emails tab itself is Campaign Settings' "emails".
urlpatterns = [
    path("postal-address/", views.postal_address, name="email_postal_address"),
    path("<int:email_id>/resend/", views.resend, name="email_resend"),
]
