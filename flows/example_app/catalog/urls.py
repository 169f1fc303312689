from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("actors", views.ActorViewSet, basename="actor")
router.register("tag-categories", views.TagCategoryViewSet, basename="tag-category")
router.register("tags", views.TagViewSet, basename="tag")
router.register("productions", views.ProductionViewSet, basename="production")
router.register("episodes", views.EpisodeViewSet, basename="episode")

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("token/", views.token_view, name="token"),
    path("me/", views.me_view, name="me"),
    path("health/", views.health_view, name="health"),
    path("", include(router.urls)),
]
