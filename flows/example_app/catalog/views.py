from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    parser_classes,
    permission_classes,
)
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.response import Response

from .models import Actor, Episode, Production, Tag, TagCategory
from .permissions import IsEditorOrReadOnly, is_editor
from .tokens import check_credentials, make_token
from .serializers import (
    ActorSerializer,
    EpisodeSerializer,
    ProductionSerializer,
    TagCategorySerializer,
    TagSerializer,
)


class ActorViewSet(viewsets.ModelViewSet):
    queryset = Actor.objects.all()
    serializer_class = ActorSerializer
    permission_classes = [permissions.AllowAny]


class TagCategoryViewSet(viewsets.ModelViewSet):
    queryset = TagCategory.objects.all()
    serializer_class = TagCategorySerializer
    permission_classes = [permissions.AllowAny]


class TagViewSet(viewsets.ModelViewSet):
    queryset = Tag.objects.all()
    serializer_class = TagSerializer
    permission_classes = [permissions.AllowAny]


class ProductionViewSet(viewsets.ModelViewSet):
    queryset = Production.objects.all()
    serializer_class = ProductionSerializer
    permission_classes = [IsEditorOrReadOnly]


class EpisodeViewSet(viewsets.ModelViewSet):
    queryset = Episode.objects.all()
    serializer_class = EpisodeSerializer
    permission_classes = [permissions.AllowAny]


@csrf_exempt
@api_view(["POST"])
@authentication_classes([])  # no SessionAuthentication: no CSRF check, so a fresh client can log in
@permission_classes([permissions.AllowAny])
def login_view(request):
    data = request.data if isinstance(request.data, dict) else {}
    username = data.get("username")
    password = data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        return Response(
            {"detail": "username and password are required."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    user = authenticate(request, username=username, password=password)
    if user is None:
        return Response(
            {"detail": "Invalid username or password."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    login(request, user)  # sets the sessionid cookie and rotates the CSRF token
    get_token(request)  # makes CsrfViewMiddleware set the csrftoken cookie
    return Response({"username": user.get_username()})


@csrf_exempt
@api_view(["POST"])
@authentication_classes([])
@permission_classes([permissions.AllowAny])
@parser_classes([FormParser, JSONParser])
def token_view(request):
    """OAuth2's password flow: a form (or JSON) with username and password;
    the answer holds a bearer token, and sets no cookie."""
    user = check_credentials(request.data)
    if user is None:
        return Response(
            {"detail": "Invalid username or password."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return Response({"access_token": make_token(user), "token_type": "bearer"})


@api_view(["POST"])
@permission_classes([permissions.AllowAny])
def logout_view(request):
    # A logged-in client must send X-CSRFToken, as for any unsafe method.
    logout(request)
    return Response(status=status.HTTP_204_NO_CONTENT)


@api_view(["GET"])
@permission_classes([permissions.IsAuthenticated])
def me_view(request):
    return Response(
        {"username": request.user.get_username(), "is_editor": is_editor(request.user)}
    )


@api_view(["GET"])
@authentication_classes([])  # never touches the session: no database query
@permission_classes([permissions.AllowAny])
def health_view(request):
    return Response({"status": "ok"})
