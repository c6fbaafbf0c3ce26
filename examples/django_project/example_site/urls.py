from django.urls import include, path

urlpatterns = [path("hooks/", include("mailhooks.integrations.django"))]
