"""referloop: referral programs for home-service businesses, with a native ServiceTitan integration."""
